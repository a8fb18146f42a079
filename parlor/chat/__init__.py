"""One-to-one chat: the service, the pair files that store conversations, the conversation list,
pictures and ELIZA. Hands each stored message to a delivery port; never imports live/."""
