# No models: the module makes Django send this app post_migrate, after which
# ownership.roles grants the runtime role its privileges.
