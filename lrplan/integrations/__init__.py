"""Training-stack integrations of the Python API, each importing its stack only when imported itself:
``torch`` (the ``LRScheduler``, also ``lrplan.torch``), ``hf`` (a ``TrainerCallback`` guard) and
``lightning`` (a ``Callback`` guard)."""
