class Version:
    def __init__(self, text: str) -> None:
        self.parts = tuple(int(p) for p in text.split("."))

    def __eq__(self, other: object) -> bool:
        return self.parts == other.parts


def is_pinned(version: "Version | None") -> bool:
    return not (version == None)


print(is_pinned(Version("1.2.3")))
