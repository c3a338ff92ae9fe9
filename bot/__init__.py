"""Batissons: the conversational assistant of the Bâtissons nos emplois insertion service."""
