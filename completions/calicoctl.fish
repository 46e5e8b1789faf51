complete --keep-order --exclusive --command calicoctl --arguments "(COMPLETE=fish calicoctl -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
