"""通知公告, 消息, reminders and their delivery (SMTP, SMS webhook), 学习计划."""
