"""The pure conversation engine: flows as data, run one event at a time."""
