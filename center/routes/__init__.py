"""The center's API, one router per concern; `center.app` includes them all."""
