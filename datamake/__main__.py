from datamake.cli.launch import run

run()
