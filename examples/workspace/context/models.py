"""Domain models of the example shop, used as context by the coder examples.

The coder agent reads this file with ``ast`` (it never imports it while generating): a model the
contract names, or whose name is the contract's entity ("writes user data" -> ``User``), types the
payload of the generated node, which then imports it as ``from context.models import User``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Order", "OrderStatus", "Product", "User"]


class User(BaseModel):
    """A customer account, as stored in the ``users`` table."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, description="unique login address")
    full_name: str = Field(min_length=1)
    is_active: bool = True


class Product(BaseModel):
    """A catalogue entry, as stored in the ``products`` table."""

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1)
    title: str
    price_cents: int = Field(ge=0)


class OrderStatus(StrEnum):
    """Where an order is in its life cycle."""

    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class Order(BaseModel):
    """A customer's order, as stored in the ``orders`` table."""

    model_config = ConfigDict(extra="forbid")

    order_id: str
    user_email: str
    status: OrderStatus = OrderStatus.PENDING
    total_cents: int = Field(ge=0)
