"""Words the demo help desk is made of: categories, topics, names, subjects (en + es)."""

from __future__ import annotations

import functools
import unicodedata

# (english, spanish) category names, each with topics as (english, spanish) noun phrases.
CATEGORIES: list[tuple[tuple[str, str], list[tuple[str, str]]]] = [
    (
        ("Getting started", "Primeros pasos"),
        [
            ("your first project", "tu primer proyecto"),
            ("the setup wizard", "el asistente de configuración"),
            ("workspace settings", "la configuración del espacio de trabajo"),
            ("sample data", "los datos de ejemplo"),
            ("the quick start checklist", "la lista de inicio rápido"),
        ],
    ),
    (
        ("Account & login", "Cuenta e inicio de sesión"),
        [
            ("password reset", "el restablecimiento de contraseña"),
            ("two-factor authentication", "la autenticación en dos pasos"),
            ("single sign-on", "el inicio de sesión único"),
            ("your profile", "tu perfil"),
            ("account email changes", "el cambio de correo de la cuenta"),
        ],
    ),
    (
        ("Billing & invoices", "Facturación"),
        [
            ("invoices", "las facturas"),
            ("payment methods", "los métodos de pago"),
            ("refunds", "los reembolsos"),
            ("VAT and tax IDs", "el IVA y los datos fiscales"),
            ("failed payments", "los pagos rechazados"),
        ],
    ),
    (
        ("Plans & pricing", "Planes y precios"),
        [
            ("plan upgrades", "el cambio a un plan superior"),
            ("the free trial", "la prueba gratuita"),
            ("seat-based pricing", "el precio por usuario"),
            ("annual billing", "la facturación anual"),
            ("plan downgrades", "el cambio a un plan inferior"),
        ],
    ),
    (
        ("Data import & export", "Importar y exportar datos"),
        [
            ("CSV export", "la exportación a CSV"),
            ("spreadsheet import", "la importación de hojas de cálculo"),
            ("scheduled backups", "las copias de seguridad programadas"),
            ("the data API", "la API de datos"),
            ("duplicate records", "los registros duplicados"),
        ],
    ),
    (
        ("Integrations", "Integraciones"),
        [
            ("the Slack integration", "la integración con Slack"),
            ("webhooks", "los webhooks"),
            ("the calendar sync", "la sincronización del calendario"),
            ("the CRM connector", "el conector del CRM"),
            ("API tokens", "los tokens de la API"),
        ],
    ),
    (
        ("Reports & dashboards", "Informes y paneles"),
        [
            ("custom dashboards", "los paneles personalizados"),
            ("scheduled reports", "los informes programados"),
            ("report filters", "los filtros de informes"),
            ("chart exports", "la exportación de gráficos"),
            ("usage analytics", "las analíticas de uso"),
        ],
    ),
    (
        ("Notifications", "Notificaciones"),
        [
            ("email notifications", "las notificaciones por correo"),
            ("push notifications", "las notificaciones push"),
            ("daily digests", "los resúmenes diarios"),
            ("alert rules", "las reglas de alerta"),
            ("notification sounds", "los sonidos de notificación"),
        ],
    ),
    (
        ("Mobile app", "Aplicación móvil"),
        [
            ("the iOS app", "la app para iOS"),
            ("the Android app", "la app para Android"),
            ("offline mode", "el modo sin conexión"),
            ("mobile sign-in", "el inicio de sesión en el móvil"),
            ("photo uploads", "la subida de fotos"),
        ],
    ),
    (
        ("Security & privacy", "Seguridad y privacidad"),
        [
            ("data retention", "la conservación de datos"),
            ("audit logs", "los registros de auditoría"),
            ("IP allow-lists", "las listas de IP permitidas"),
            ("GDPR requests", "las solicitudes RGPD"),
            ("session timeouts", "la caducidad de sesiones"),
        ],
    ),
    (
        ("Team & permissions", "Equipos y permisos"),
        [
            ("user roles", "los roles de usuario"),
            ("inviting teammates", "las invitaciones al equipo"),
            ("guest access", "el acceso de invitados"),
            ("team folders", "las carpetas de equipo"),
            ("ownership transfer", "la transferencia de propiedad"),
        ],
    ),
    (
        ("Troubleshooting", "Solución de problemas"),
        [
            ("slow loading pages", "las páginas que cargan lento"),
            ("sync errors", "los errores de sincronización"),
            ("browser compatibility", "la compatibilidad de navegadores"),
            ("missing data", "los datos que faltan"),
            ("error messages", "los mensajes de error"),
        ],
    ),
]

# (english, spanish) article title templates; {t} is the topic.
ARTICLE_TEMPLATES: list[tuple[str, str]] = [
    ("How to set up {t}", "Cómo configurar {t}"),
    ("Troubleshooting {t}", "Solución de problemas con {t}"),
    ("{T}: frequently asked questions", "{T}: preguntas frecuentes"),
    ("Understanding {t}", "Todo sobre {t}"),
    ("Changing or turning off {t}", "Cambiar o desactivar {t}"),
    ("Best practices for {t}", "Buenas prácticas para {t}"),
]

# (english, spanish) ticket subject templates matching what the customer read.
SUBJECT_TEMPLATES: list[tuple[str, str]] = [
    ("Problem with {t}", "Problema con {t}"),
    ("Question about {t}", "Pregunta sobre {t}"),
    ("{T}: not working as expected", "{T}: no funciona como esperaba"),
    ("Help needed with {t}", "Necesito ayuda con {t}"),
    ("Still stuck with {t} after reading your guide", "Sigo atascado con {t} tras leer la guía"),
]
GENERIC_SUBJECTS: list[tuple[str, str]] = [
    ("Quick question", "Una pregunta rápida"),
    ("Please call me back", "Por favor, llámenme"),
    ("Feedback on the product", "Comentarios sobre el producto"),
]

FIRST_NAMES = [
    "Ana",
    "Luis",
    "Marta",
    "Pablo",
    "Lucía",
    "Javier",
    "Sofía",
    "Diego",
    "Elena",
    "Carlos",
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Ava",
    "James",
    "Mia",
    "Lucas",
    "Amelia",
    "Ethan",
    "Chloe",
    "Ben",
    "Grace",
    "Leo",
    "Isla",
    "Omar",
    "Priya",
    "Kenji",
    "Zoe",
    "Hugo",
]
LAST_NAMES = [
    "García",
    "Martínez",
    "López",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Fernández",
    "Ruiz",
    "Smith",
    "Johnson",
    "Brown",
    "Taylor",
    "Wilson",
    "Evans",
    "Walker",
    "Wright",
    "Khan",
    "Nakamura",
    "Rossi",
    "Dubois",
    "Novak",
    "Costa",
    "Meyer",
    "Olsen",
]
COMPANY_WORDS = ["Acme", "Nimbus", "Orbit", "Pinecone", "Harbor", "Quartz", "Solace", "Vertex"]
SEARCH_WORDS = {"en": "how to {t}", "es": "cómo {t}"}


@functools.lru_cache(maxsize=4096)
def slugify(text: str) -> str:
    """`text` as a URL slug. Cached: the demo desk builds one URL per article view from a
    few hundred titles and names (~17,000 calls for the 300-customer demo)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    keep = "".join(ch.lower() if ch.isalnum() else "-" for ch in text)
    return "-".join(part for part in keep.split("-") if part)[:60]


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]
