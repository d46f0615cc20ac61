"""The tenant contract and its rules. Imports nothing of the bot's but config, policy and logs."""
