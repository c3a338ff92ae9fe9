"""Draws flows as Mermaid graphs, straight from the flow data, so the picture never drifts."""

from __future__ import annotations

from bot.engine.flow import FlowSet


def _node(ref: str) -> str:
    return ref.replace(".", "__")


def mermaid(flowset: FlowSet, name: str) -> str:
    """A 'flowchart TD' of one flow: steps as nodes, routes as labelled edges."""
    flow = flowset.flows[name]
    lines = ["flowchart TD"]
    for step_id, step in flow.steps.items():
        ref = f"{name}.{step_id}"
        shape = f'{{"{step_id}?"}}' if step.ask else f'["{step_id}"]'
        lines.append(f"    {_node(ref)}{shape}")
        edges: list[tuple[str, str]] = [(label, target) for label, target in step.routes.items()]
        if step.call:
            edges.append(("call", step.call))
        if step.next:
            edges.append(("" if not step.call else "then", step.next))
        for label, target in edges:
            if target in ("return", "end", "idle", "stay"):
                dest = f"{name}__{target}(({target}))"
            else:
                dest = _node(flowset.resolve(target, name))
            arrow = f"-->|{label}|" if label else "-->"
            lines.append(f"    {_node(ref)} {arrow} {dest}")
    return "\n".join(lines) + "\n"
