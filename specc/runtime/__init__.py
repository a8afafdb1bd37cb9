"""The runtime: task env, backends, PPO, logging and export. Installed as `specc.runtime`."""
