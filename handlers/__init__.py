"""routes(): the whole URL table in one place."""
from .accounts import (
    AccountHandler,
    ApiTokenHandler,
    DataHandler,
    LeaveHandler,
    LoginHandler,
    LogoutHandler,
    PasswordHandler,
    PasswordResetHandler,
    SignupHandler,
)
from .admin import (
    AdminAccountsHandler,
    AdminBoardEntryHandler,
    AdminHandler,
    AdminInviteRevokeHandler,
    AdminInvitesHandler,
    AdminLogHandler,
    AdminReportHandler,
    AdminReportPictureHandler,
    AdminReportsHandler,
    AdminResetLinkHandler,
    AdminSuspensionHandler,
    AdminUserHandler,
    AdminUserLookupHandler,
)
from .api import ApiMessagesHandler
from .chat import (
    ChatListHandler,
    ChatStartHandler,
    ConversationHandler,
    ImageHandler,
    MessagesHandler,
    ReadHandler,
    TypingHandler,
)
from .compat import CreateConversationHandler, MessageHistoryHandler, SendMessageHandler
from .game import ClaimHandler, GameHandler, GamesHandler, GuessHandler
from .health import HealthHandler
from .home import HomeHandler
from .live import EventStreamHandler, LiveSocket, PollHandler
from .message_actions import EditMessageHandler, MessageHandler, MessageMenuHandler, ReactionsHandler, ReplyHandler
from .metrics import MetricsHandler
from .moderation import BlockHandler, DeleteMessageHandler, MuteHandler
from .reports import ReportMessageHandler, ReportPersonHandler
from .scores import BoardFragmentHandler, BoardJsonHandler, BoardPageHandler, BoardStatsHandler, ScoresHandler
from .search import ConversationSearchHandler, SearchHandler

GAME_ID = r"([A-Za-z0-9_-]{1,32})"
PEER = r"([^/]{1,64})"  # checked against the accounts in the handler
NAME = PEER  # an account's name in /admin/users/<name>, checked the same way
REPORT_ID = r"([0-9a-f]{20})"
INVITE_CODE = r"([A-Za-z0-9_-]{16,64})"


def routes() -> list[tuple]:
    return [
        # The scraping endpoints first: they are the hottest, and routes are tried in order.
        (r"/scores/([0-9]+)/fragment", BoardFragmentHandler),
        (r"/scores/([0-9]+)\.json", BoardJsonHandler),
        (r"/", HomeHandler),
        (r"/signup", SignupHandler),
        (r"/login", LoginHandler),
        (r"/logout", LogoutHandler),
        (r"/account", AccountHandler),
        (r"/account/token", ApiTokenHandler),
        (r"/account/password", PasswordHandler),
        (r"/account/data", DataHandler),
        (r"/account/delete", LeaveHandler),
        (r"/password-reset", PasswordResetHandler),
        (r"/games", GamesHandler),
        (rf"/games/{GAME_ID}", GameHandler),
        (rf"/games/{GAME_ID}/guesses", GuessHandler),
        (rf"/games/{GAME_ID}/name", ClaimHandler),
        (r"/scores", ScoresHandler),
        (r"/scores/([0-9]+)", BoardPageHandler),
        (r"/scores/([0-9]+)/stats\.json", BoardStatsHandler),
        (r"/chat", ChatListHandler),
        (r"/chat/start", ChatStartHandler),
        (rf"/chat/{PEER}", ConversationHandler),
        (rf"/chat/{PEER}/messages", MessagesHandler),
        (rf"/chat/{PEER}/images/([0-9]{{1,18}})", ImageHandler),
        (rf"/chat/{PEER}/typing", TypingHandler),
        (rf"/chat/{PEER}/read", ReadHandler),
        (rf"/chat/{PEER}/mute", MuteHandler),
        (rf"/chat/{PEER}/messages/([0-9]{{1,18}})", MessageHandler),
        (rf"/chat/{PEER}/messages/([0-9]{{1,18}})/actions", MessageMenuHandler),
        (rf"/chat/{PEER}/messages/([0-9]{{1,18}})/reply", ReplyHandler),
        (rf"/chat/{PEER}/messages/([0-9]{{1,18}})/reactions", ReactionsHandler),
        (rf"/chat/{PEER}/messages/([0-9]{{1,18}})/edit", EditMessageHandler),
        (rf"/chat/{PEER}/search", ConversationSearchHandler),
        (rf"/chat/{PEER}/messages/([0-9]{{1,18}})/delete", DeleteMessageHandler),
        (rf"/chat/{PEER}/messages/([0-9]{{1,18}})/report", ReportMessageHandler),
        (rf"/chat/{PEER}/report", ReportPersonHandler),
        (r"/search", SearchHandler),
        (r"/blocks", BlockHandler),
        (r"/create_conversation_db", CreateConversationHandler),
        (r"/get_message_history", MessageHistoryHandler),
        (rf"/send_message/{PEER}", SendMessageHandler),
        (r"/live", LiveSocket),
        (r"/events", EventStreamHandler),
        (r"/poll", PollHandler),
        (r"/api/messages", ApiMessagesHandler),
        (r"/healthz", HealthHandler),
        (r"/metrics", MetricsHandler),
        (r"/admin", AdminHandler),
        (r"/admin/accounts", AdminAccountsHandler),
        (r"/admin/users", AdminUserLookupHandler),
        (rf"/admin/users/{NAME}", AdminUserHandler),
        (rf"/admin/users/{NAME}/suspension", AdminSuspensionHandler),
        (rf"/admin/users/{NAME}/reset-link", AdminResetLinkHandler),
        (r"/admin/reports", AdminReportsHandler),
        (rf"/admin/reports/{REPORT_ID}", AdminReportHandler),
        (rf"/admin/reports/{REPORT_ID}/picture", AdminReportPictureHandler),
        (r"/admin/invites", AdminInvitesHandler),
        (rf"/admin/invites/{INVITE_CODE}/revoke", AdminInviteRevokeHandler),
        (r"/admin/log", AdminLogHandler),
        (r"/admin/boards/([0-9]+)/remove", AdminBoardEntryHandler),
    ]
