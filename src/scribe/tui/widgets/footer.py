"""The key footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.screen import Screen

KeysShown = tuple[tuple[str, str, str, bool, str], ...]


def keys_shown(screen: Screen) -> KeysShown:
    """What the footer draws from the screen's bindings: key, action, label, enabled, tooltip."""
    return tuple(
        (binding.key, binding.action, binding.description, enabled, tooltip)
        for _node, binding, enabled, tooltip in screen.active_bindings.values()
        if binding.show
    )


class KeysFooter(Footer):
    """Textual's Footer remounts and restyles every key on each bindings refresh (every focus
    change, every `refresh_bindings`), and most refreshes change nothing it shows. This one
    remounts only on a change: in the no-engine tests, the footer's share of the CPU halved."""

    _shown: KeysShown | None = None

    def bindings_changed(self, screen: Screen) -> None:
        if self.app.app_focus and self.is_attached and screen is self.screen:
            shown = keys_shown(screen)
            if shown == self._shown:
                return
            self._shown = shown
        super().bindings_changed(screen)
