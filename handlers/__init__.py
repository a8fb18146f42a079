"""routes(): the whole URL table in one place."""
from .accounts import LoginHandler, LogoutHandler, SignupHandler
from .health import HealthHandler
from .home import HomeHandler
from .live import LiveSocket


def routes() -> list[tuple]:
    return [
        (r"/", HomeHandler),
        (r"/signup", SignupHandler),
        (r"/login", LoginHandler),
        (r"/logout", LogoutHandler),
        (r"/live", LiveSocket),
        (r"/healthz", HealthHandler),
    ]
