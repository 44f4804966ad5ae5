"""Template helpers for the H5 pages: locale, money in yuan, masking."""

from __future__ import annotations

from flask_babel import get_locale

from app.services.formatting import mask_id_number, mask_name, mask_phone, yuan
from h5 import h5_blueprint as bp


@bp.app_context_processor
def inject_locale():
    return {"get_locale": get_locale}


bp.add_app_template_filter(yuan, "yuan")
bp.add_app_template_filter(mask_name, "mask_name")
bp.add_app_template_filter(mask_phone, "mask_phone")
bp.add_app_template_filter(mask_id_number, "mask_id")
