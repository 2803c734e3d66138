"""panda_viz's own files: saved factors, saved inversions, the official PandA factor files, edit zoos."""
