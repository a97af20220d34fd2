from dataclasses import dataclass


@dataclass
class Order:
    order_id: str
    amount: float
    currency: str = "EUR"


def build(rows: list[tuple[str, float]]) -> list[Order]:
    return [Order(order_id, amount, "EUR", True) for order_id, amount in rows]


print(build([("o-1", 9.5)]))
