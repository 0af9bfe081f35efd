"""一日三晒: daily check-ins in the units' chat groups, their record, spot checks (抽查),
the 要情快讯 digest and the figures the monthly 月讲评 can use."""
