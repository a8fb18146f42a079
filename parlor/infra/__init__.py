"""The infrastructure every wing stands on: settings, the Redis client and the embedded Redis
server, metrics, logs, backups, and batching of round trips. Imports no other wing."""
