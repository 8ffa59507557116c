"""Markets: the countries Aventide operates in and their marketplace policy (currency,
platform fee, dispute window). Imports only the kernel; accounts, ledger and orders read the
policy through ``aventide.markets.policy``."""
