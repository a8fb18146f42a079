"""Running a community: admins, moderation, reports, the audit log, the console, and what
managing and leaving an account reaches across every wing. The top wing: may import the others."""
