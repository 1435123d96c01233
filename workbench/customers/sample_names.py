"""Static word lists for the synthetic customer base (see ``sample.py``).

Name lists are ordered roughly from most to least common in the US, so the generator can give
them Zipf-like weights by position. City populations are 2020 census figures in thousands,
rounded; they are only used as relative weights.
"""

from __future__ import annotations

FEMALE_FIRST_NAMES: tuple[str, ...] = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah",
    "Karen", "Lisa", "Nancy", "Betty", "Sandra", "Margaret", "Ashley", "Kimberly", "Emily",
    "Donna", "Michelle", "Carol", "Amanda", "Melissa", "Deborah", "Stephanie", "Dorothy",
    "Rebecca", "Sharon", "Laura", "Cynthia", "Amy", "Kathleen", "Angela", "Shirley", "Brenda",
    "Emma", "Anna", "Pamela", "Nicole", "Samantha", "Katherine", "Christine", "Helen", "Debra",
    "Rachel", "Carolyn", "Janet", "Maria", "Catherine", "Heather", "Diane", "Olivia", "Julie",
    "Joyce", "Victoria", "Ruth", "Virginia", "Lauren", "Kelly", "Christina", "Joan", "Evelyn",
    "Judith", "Andrea", "Hannah", "Megan", "Cheryl", "Jacqueline", "Martha", "Madison", "Teresa",
    "Gloria", "Sara", "Janice", "Ann", "Kathryn", "Abigail", "Sophia", "Frances", "Jean", "Alice",
    "Judy", "Isabella", "Julia", "Grace", "Amber", "Denise", "Danielle", "Marilyn", "Beverly",
    "Charlotte", "Natalie", "Theresa", "Diana", "Brittany", "Doris", "Kayla", "Alexis", "Lori",
    "Marie", "Tiffany", "Kristen", "Rose", "Ava", "Mia", "Harper", "Ella", "Avery", "Scarlett",
    "Chloe", "Lily", "Aria", "Zoey", "Nora", "Riley", "Layla", "Penelope", "Camila", "Elena",
    "Aubrey", "Stella", "Hazel", "Aurora", "Savannah", "Audrey", "Brooklyn", "Bella", "Claire",
    "Skylar", "Lucy", "Paisley", "Caroline", "Naomi", "Gabriela", "Ruby", "Sadie", "Allison",
    "Monica", "Erin", "Vanessa", "Jasmine", "Courtney", "Morgan", "Crystal", "Tracy", "Wendy",
    "Rosa", "Yolanda", "Leslie", "Holly",
)

MALE_FIRST_NAMES: tuple[str, ...] = (
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
    "Christopher", "Charles", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Andrew",
    "Paul", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Jason",
    "Edward", "Jeffrey", "Ryan", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen",
    "Larry", "Justin", "Scott", "Brandon", "Benjamin", "Samuel", "Gregory", "Alexander",
    "Patrick", "Frank", "Raymond", "Jack", "Dennis", "Jerry", "Tyler", "Aaron", "Jose", "Adam",
    "Nathan", "Henry", "Zachary", "Douglas", "Peter", "Kyle", "Noah", "Ethan", "Jeremy", "Walter",
    "Christian", "Keith", "Roger", "Terry", "Austin", "Sean", "Gerald", "Carl", "Harold", "Dylan",
    "Arthur", "Lawrence", "Jordan", "Jesse", "Bryan", "Billy", "Bruce", "Gabriel", "Joe", "Logan",
    "Alan", "Juan", "Albert", "Willie", "Elijah", "Wayne", "Randy", "Vincent", "Mason", "Roy",
    "Ralph", "Bobby", "Russell", "Bradley", "Philip", "Eugene", "Liam", "Oliver", "Lucas", "Aiden",
    "Jackson", "Sebastian", "Mateo", "Owen", "Luke", "Caleb", "Isaac", "Levi", "Hunter", "Connor",
    "Eli", "Landon", "Adrian", "Carter", "Jayden", "Julian", "Wyatt", "Grayson", "Leo", "Isaiah",
    "Louis", "Luis", "Carlos", "Miguel", "Antonio", "Victor", "Shawn", "Travis", "Marcus", "Derek",
    "Cody", "Evan", "Ian", "Cole", "Blake", "Chase", "Dustin", "Trevor", "Cameron", "Jared",
    "Seth", "Colin", "Max", "Miles", "Hudson", "Ezra",
)

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz",
    "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy",
    "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey", "Reed",
    "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks", "Chavez",
    "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez",
    "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Powell",
    "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes",
    "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander",
    "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes",
    "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina", "Aguilar", "Stevens", "Murray",
    "Ford", "Castro", "Marshall", "Owens", "Harrison", "Fernandez", "McDonald", "Woods",
    "Washington", "Kennedy", "Wells", "Vargas", "Henry", "Chen", "Freeman", "Webb", "Tucker",
    "Guzman", "Burns", "Crawford", "Olson", "Simpson", "Porter", "Hunter", "Gordon", "Mendez",
    "Silva", "Shaw", "Snyder", "Mason", "Dixon", "Munoz", "Hunt", "Hicks", "Holmes", "Palmer",
    "Wagner", "Black", "Robertson", "Boyd", "Rose", "Stone", "Salazar", "Fox", "Warren", "Mills",
    "Meyer", "Rice", "Schmidt", "Garza", "Daniels", "Ferguson", "Nichols", "Stephens", "Soto",
    "Weaver", "Ryan", "Gardner", "Payne", "Grant", "Dunn", "Hawkins", "Hudson", "O'Brien",
)

# (city, state, population in thousands)
CITIES: tuple[tuple[str, str, int], ...] = (
    ("New York", "NY", 8804), ("Los Angeles", "CA", 3899), ("Chicago", "IL", 2746),
    ("Houston", "TX", 2304), ("Phoenix", "AZ", 1608), ("Philadelphia", "PA", 1603),
    ("San Antonio", "TX", 1434), ("San Diego", "CA", 1386), ("Dallas", "TX", 1304),
    ("San Jose", "CA", 1013), ("Austin", "TX", 961), ("Jacksonville", "FL", 950),
    ("Fort Worth", "TX", 918), ("Columbus", "OH", 905), ("Indianapolis", "IN", 887),
    ("Charlotte", "NC", 874), ("San Francisco", "CA", 873), ("Seattle", "WA", 737),
    ("Denver", "CO", 715), ("Washington", "DC", 689), ("Nashville", "TN", 689),
    ("Oklahoma City", "OK", 681), ("El Paso", "TX", 678), ("Boston", "MA", 675),
    ("Portland", "OR", 652), ("Las Vegas", "NV", 641), ("Detroit", "MI", 639),
    ("Memphis", "TN", 633), ("Louisville", "KY", 633), ("Baltimore", "MD", 585),
    ("Milwaukee", "WI", 577), ("Albuquerque", "NM", 564), ("Tucson", "AZ", 542),
    ("Fresno", "CA", 542), ("Sacramento", "CA", 524), ("Kansas City", "MO", 508),
    ("Mesa", "AZ", 504), ("Atlanta", "GA", 498), ("Omaha", "NE", 486),
    ("Colorado Springs", "CO", 478), ("Raleigh", "NC", 467), ("Long Beach", "CA", 466),
    ("Virginia Beach", "VA", 459), ("Miami", "FL", 442), ("Oakland", "CA", 440),
    ("Minneapolis", "MN", 429), ("Tulsa", "OK", 413), ("Bakersfield", "CA", 403),
    ("Wichita", "KS", 397), ("Arlington", "TX", 394), ("Aurora", "CO", 386),
    ("Tampa", "FL", 384), ("New Orleans", "LA", 384), ("Cleveland", "OH", 373),
    ("Honolulu", "HI", 350), ("Anaheim", "CA", 346), ("Lexington", "KY", 322),
    ("Henderson", "NV", 318), ("Newark", "NJ", 311), ("Saint Paul", "MN", 311),
    ("Cincinnati", "OH", 309), ("Orlando", "FL", 307), ("Pittsburgh", "PA", 303),
    ("St. Louis", "MO", 301), ("Anchorage", "AK", 291), ("Buffalo", "NY", 278),
    ("Madison", "WI", 269), ("Reno", "NV", 264), ("Boise", "ID", 235), ("Richmond", "VA", 226),
    ("Des Moines", "IA", 214), ("Birmingham", "AL", 200), ("Salt Lake City", "UT", 200),
    ("Little Rock", "AR", 202), ("Sioux Falls", "SD", 192), ("Providence", "RI", 190),
    ("Jackson", "MS", 153), ("Bridgeport", "CT", 148), ("Charleston", "SC", 150),
    ("Fargo", "ND", 125), ("Billings", "MT", 117), ("Manchester", "NH", 115),
    ("Wilmington", "DE", 70), ("Portland", "ME", 68), ("Burlington", "VT", 45),
)

# (domain, share of customers)
EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 0.46), ("yahoo.com", 0.15), ("hotmail.com", 0.09), ("outlook.com", 0.10),
    ("icloud.com", 0.11), ("aol.com", 0.04), ("comcast.net", 0.05),
)
