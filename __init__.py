"""helpdesk: a keyboard-driven terminal helpdesk on a shared IMAP mailbox."""

__version__ = "0.1.0"
