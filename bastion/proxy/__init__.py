"""The SSH proxy: asyncssh server towards technicians, asyncssh client towards targets."""
