"""Live delivery: the hub, the connection registry, per-user event streams, the pub/sub listener,
presence. The one place that holds sockets; never imports chat/ (chat calls its delivery port)."""
