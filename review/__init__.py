"""年度考评 (三述两评一问): 评议 rounds, 书面点评, 一问 and the annual result."""
