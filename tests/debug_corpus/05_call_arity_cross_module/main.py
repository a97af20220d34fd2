from billing import charge


def checkout(customer_id: str, cart_total: float) -> dict:
    return charge(customer_id, round(cart_total * 100))


print(checkout("c-1", 12.5))
