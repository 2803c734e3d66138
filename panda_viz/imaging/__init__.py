"""Images in (photos decoded, cropped and resized for a generator) and out (overlays, heat maps, grids, PNG bytes)."""
