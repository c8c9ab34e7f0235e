"""Running sweeps on Modal: the worker side (``worker``) and the Modal app (``modal_app``)."""
