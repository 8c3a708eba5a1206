"""The TUI's widgets: editor, notes tree, assistant panel, status bar."""
