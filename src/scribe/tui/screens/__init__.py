"""The TUI's screens: help, compare, dialogs, note viewer."""
