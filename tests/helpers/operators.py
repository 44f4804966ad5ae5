"""Operators (操作员): a new operator's form as hospital IT fills it in correctly."""

from __future__ import annotations

GOOD = {"username": "zhangmin", "name": "张敏", "department": "财务科", "phone": "13912345678", "role": "Finance",
        "email": ""}
