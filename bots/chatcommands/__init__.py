"""Chat commands, declared by domain: each module's ``COMMANDS`` (see ``bots.chat``)."""
