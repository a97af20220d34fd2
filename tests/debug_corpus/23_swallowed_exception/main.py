def parse_port(text: str) -> "int | None":
    try:
        return int(text)
    except Exception:
        pass


def server_address(host: str, port_text: str) -> str:
    port = parse_port(port_text)
    return host + ":" + port


print(server_address("localhost", "80a"))
