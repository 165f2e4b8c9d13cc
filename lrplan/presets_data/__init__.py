"""Published LR schedules as TOML files (data package; read with lrplan.presets)."""
