"""A complete production environment (every secret and id set, nothing real): the start-up checks
and the image without doubles/ are tested against it."""

PRODUCTION_ENV = {
    "SECRET_KEY": "x" * 40,
    "DATABASE_URL": "mysql+pymysql://hospital:pw@db/hospital",
    "REDIS_URL": "redis://127.0.0.1:6379/1",
    "HIS_BASE_URL": "https://his.example/his/v1",
    "HIS_SECRET": "h" * 32,
    "HIS_EVENT_SECRET": "e" * 32,
    "PUBLIC_BASE_URL": "https://pay.hospital.example",
    "WECHAT_APPSECRET": "real-appsecret",
    "WECHAT_TOKEN": "real-token",
    "WECHAT_PAY_APIV3_KEY": "k" * 32,
    "ALIPAY_PRIVATE_KEY": "/etc/hospital/alipay.pem",
    "WECHAT_APPID": "wx1234567890abcdef",
    "WECHAT_MCHID": "1900000109",
    "ALIPAY_APPID": "2021001100000000",
    "ALIPAY_SELLER_ID": "2088101122334455",
    "WECHAT_PAY_PRIVATE_KEY": "/etc/hospital/apiclient_key.pem",
    "WECHAT_PAY_CERT_SERIAL": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
    "ALIPAY_PUBLIC_KEY": "/etc/hospital/alipay_public.pem",
}
