def read_port(config: dict) -> int:
    try:
        return int(config["port"])
    except KeyError:
        logging.warning("no port configured, using 8080")
        return 8080


print(read_port({}))
