class Mailer:
    def __init__(self, host: str) -> None:
        self.host = host

    def send(self, to: str, subject: str, body: str = "") -> str:
        return f"{self.host}: {to} <- {subject} {body}"

    def notify(self, user: str) -> str:
        return self.send(to=user, subjet="Welcome")


print(Mailer("smtp.local").notify("ada@example.com"))
