"""SFTP proxied at the protocol level: every operation is read, checked and logged."""
