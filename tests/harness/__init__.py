"""Real parts for tests: OpenSSH sshd targets, a throwaway PostgreSQL, the real ssh/scp/
sftp/rsync clients and tmux for interactive sessions. No mocks of these."""
