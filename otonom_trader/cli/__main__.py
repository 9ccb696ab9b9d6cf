from otonom_trader.cli import main

main()
