"""Training of the emotion models (development and ``train-emotion``; never imported at inference):
``fit`` (features, network fitting, model folders), ``augment`` (phone channel and noise),
``corpora`` (the shared corpora's clip lists and licences), ``card`` (model cards)."""
