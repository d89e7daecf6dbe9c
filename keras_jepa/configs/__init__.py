"""The named configs (`keras-jepa train --config digits_micro`): one module per config, each
with `get_config(smoke=False)` returning a config dict (see `keras_jepa.experiment`).

They ship inside the package, so a name resolves from any directory and after a plain
`pip install`. A config of your own is any `.py` file with `get_config`, passed by path.
"""
