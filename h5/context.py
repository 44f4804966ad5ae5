"""Template helpers for the H5 pages: locale, money in yuan, masking."""

from __future__ import annotations

from flask_babel import get_locale

from app.services.formatting import mask_id_number, mask_name, mask_phone, yuan
from h5 import h5_blueprint as bp


@bp.app_context_processor
def inject_locale():
    return {"get_locale": get_locale}


def _english() -> bool:
    return str(get_locale() or "").startswith("en")


def doctor_name(doctor) -> str:
    """The doctor's name, in English when the patient chose English and the hospital gave one."""
    return (doctor.name_en if _english() and getattr(doctor, "name_en", None) else doctor.name) if doctor else ""


def department_name(department) -> str:
    """The department's name, in English when the patient chose English and the hospital gave one."""
    if department is None:
        return ""
    return department.name_en if _english() and getattr(department, "name_en", None) else department.name


bp.add_app_template_filter(doctor_name, "doctor_name")
bp.add_app_template_filter(department_name, "dept_name")
bp.add_app_template_filter(yuan, "yuan")
bp.add_app_template_filter(mask_name, "mask_name")
bp.add_app_template_filter(mask_phone, "mask_phone")
bp.add_app_template_filter(mask_id_number, "mask_id")
