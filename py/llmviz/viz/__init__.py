"""What the 3D view shows, in pure Python: the layout of blocks (layout), their values (scene_values) and where each value came from (provenance)."""
