import yaml


def read_config(path: str) -> dict:
    with open(path) as handle:
        return yaml.load(handle, Loader=yaml.Loader)
