"""The runner behind the command line, one module a stage of a run.

config → data → model → train → evaluate → report:

- `config`: finding, loading and checking configs; `ExperimentError`.
- `micro_configs`: the named micro-ViT configs (`digits_micro`, `mnist_micro`).
- `sources`: the config's data source, the pretraining pipeline and the probe's arrays.
- `build`: I-JEPA's mask generator, the model, the optimizer, the distribution.
- `train`: pretraining one method into a run folder, and resuming it.
- `evaluate`: linear probe, kNN and RankMe of a model or a checkpoint.
- `report`: JSON files, markdown tables (`markdown_table`), the comparison table, the verdict.
- `quickstart`: the comparison runs of a config, end to end.
- `recipe`: the recipes' shared command line (`--out`, `--smoke`) and `results.md`.

`keras_jepa.experiment` gathers their names: the API the recipes, studies and the
command line use. The modules are imported on use (they import Keras).
"""
