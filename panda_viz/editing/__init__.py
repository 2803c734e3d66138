"""Editing with PandA factors: local edits, removal, appearance ranking, saliency maps and localisation."""
