"""Accounts: sign-up and login, usernames and look-alikes, sessions, invites, password resets and
suspensions. Imports infra/ and the ground floor only."""
